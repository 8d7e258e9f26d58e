"""Telling people: the error digest per run and flow, the run-failure email, and the SMTP mailer.

- :mod:`.messages` renders the emails (Jinja2 templates in ``templates/``, text + HTML);
- :mod:`.mailer` sends them (standard-library SMTP, TLS verified, never raises);
- :mod:`.redaction` scrubs secrets from anything that leaves a run;
- :mod:`.resource` is the Dagster resource flows receive (``MailerResource``).
"""

"""Local, protocol-faithful emulators of Salesforce and NetSuite (think moto / LocalStack).

Used by the demo, the tests and the benchmarks. The pipeline never imports this package: it only
knows the URLs, credentials and CA file that ``sfns sandbox up`` writes to ``endpoints.json``.

Each emulated system is a *backend* (records, business rules, ids, clock) and a *protocol layer*
(parse the request, call the backend, render the exact wire shape). Shared plumbing lives here:
TLS (:mod:`.tls`), the HTTPS server and routing (:mod:`.http`), faults on demand (:mod:`.faults`),
the skewable clock (:mod:`.clock`) and the process that runs them all (:mod:`.runner`).
"""

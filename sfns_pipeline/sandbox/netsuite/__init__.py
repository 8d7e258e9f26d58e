"""The NetSuite sandbox: record backend, REST record API, SuiteQL and SOAP SuiteTalk."""

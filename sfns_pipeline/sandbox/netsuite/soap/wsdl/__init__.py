"""NetSuite's SuiteTalk WSDL and XSDs, cut down to what the sandbox emulates (data files; templated by version)."""

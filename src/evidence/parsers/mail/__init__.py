"""The one mail reader, shared by the .eml, mbox and Outlook parsers (it registers no parser of its own):
`text` decodes, `headers` reads header fields and addresses, `message` walks the MIME tree and records a
message with `read_message`."""

"""WSGI helpers the emulator's layers share (moto_server.py, moto_rules.py, moto_iam.py).

Each layer reads the request body to decide (faults, DynamoDB's rules, IAM) and must leave it
readable for the layers behind it and for moto.
"""

import io


def read_body(environ) -> bytes:
    """Reads the request body and puts it back, readable again, for the layers behind."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
        body = stream.read()
    else:
        body = b""
    set_body(environ, body)
    return body


def set_body(environ, body: bytes) -> None:
    """Replaces the request body (what the layers behind read)."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))

"""curl with the source document's example request, byte for byte.

The document's JSON body ends its last member with a comma, which is not JSON.
docs/PROTOCOL.md §1.2: a body that cannot be parsed carries no parameters, so the answer is
the first missing required parameter, `grant_type` (as the original server answered). The
same body without that comma gets a token for the document's client (`42`, imported with
its secret).
"""

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DOC_CLIENT_ID, DOC_SECRET

# The document's example, verbatim: three-space indent, and the trailing comma.
DOCUMENT_BODY = (
    b"{\n"
    b'   "grant_type":"client_credentials",\n'
    b'   "client_id":"42",\n'
    b'   "client_secret":"IZgwaBTZ2EdtT3hT7UzG2rLQ8S0Vmu9GDxeHwcPz",\n'
    b"}"
)
FIXED_BODY = DOCUMENT_BODY.replace(b'",\n}', b'"\n}')

INVALID_REQUEST_GRANT_TYPE = (
    "The request is missing a required parameter, includes an invalid parameter value, "
    "includes a parameter more than once, or is otherwise malformed. "
    'Check the "grant_type" parameter.'
)

# As sent with `Content-Type: application/json`, and with no content type at all (a body
# starting with `{` is JSON then). curl would otherwise label it a form.
CONTENT_TYPES = {"json": "Content-Type: application/json", "none": "Content-Type:"}


def curl(url: str, body: bytes, content_type: str, tmp_path: Path):
    """POSTs `body` exactly with curl; returns (status, headers, parsed JSON body)."""
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    head_file = tmp_path / "headers.txt"
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "60",
            "-X",
            "POST",
            "-H",
            content_type,
            "--data-binary",
            f"@{body_file}",
            "-D",
            str(head_file),
            "-w",
            "\n%{http_code}",
            url,
        ],
        capture_output=True,
        check=True,
    )
    text, _, status = out.stdout.decode().rpartition("\n")
    headers = {}
    for line in head_file.read_text().splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status), headers, json.loads(text)


def test_the_documents_body_is_not_json_and_the_fixed_one_is():
    """DOCUMENT_BODY is the original API document's example as printed (a trailing comma)."""
    with pytest.raises(json.JSONDecodeError):
        json.loads(DOCUMENT_BODY)
    assert json.loads(FIXED_BODY) == {
        "grant_type": "client_credentials",
        "client_id": DOC_CLIENT_ID,
        "client_secret": DOC_SECRET,
    }


@pytest.mark.parametrize("content_type", CONTENT_TYPES.values(), ids=CONTENT_TYPES)
def test_curl_with_the_documents_body_gets_invalid_request(service, tmp_path, content_type):
    status, headers, body = curl(service.url, DOCUMENT_BODY, content_type, tmp_path)
    assert status == 400
    assert body == {
        "error": "invalid_request",
        "error_description": INVALID_REQUEST_GRANT_TYPE,
    }
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["pragma"] == "no-cache"


@pytest.mark.parametrize("content_type", CONTENT_TYPES.values(), ids=CONTENT_TYPES)
def test_curl_with_the_documents_body_without_its_trailing_comma_gets_a_token(
    service, tmp_path, content_type
):
    before = time.time()
    status, headers, body = curl(service.url, FIXED_BODY, content_type, tmp_path)
    after = time.time()
    assert status == 200, body
    assert list(body) == [
        "access_token",
        "token_type",
        "expires",
        "expires_in",
        "refresh_token",
        "scope",
    ]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 604800
    assert headers["cache-control"] == "no-store"
    assert headers["pragma"] == "no-cache"
    service.assert_stored(body, DOC_CLIENT_ID, before, after)

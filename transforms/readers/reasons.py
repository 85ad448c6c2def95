"""The read stage's name and its named drop reasons.

A record that is readable but not wanted leaves the reader as
`Rejected(doc, READ_STAGE, reason)` with one of these reasons; bytes that cannot be read
become a DeadLetter instead (see the readers' docstrings for which is which).
"""

READ_STAGE = "read"

# WARC / WET
HTTP_STATUS = "http_status"  # a response whose HTTP status is not 200
NOT_HTML = "not_html"  # a 200 response whose content type is not an HTML type
DECODE_ERROR = "decode_error"  # payload's Content-Encoding or charset cannot be decoded
EMPTY_EXTRACTION = "empty_extraction"  # no text left after HTML extraction (or empty WET text)
TOO_LARGE = "too_large"  # a WARC block, JSON line or Parquet value over max_record_bytes

# Code (The Stack style Parquet / JSON lines)
LICENSE = "license"  # no license, or a license not on the allow-list
VENDORED = "vendored"  # path matches a vendored / third-party pattern
BINARY = "binary"  # not text: NUL bytes, or bytes that are not UTF-8
MINIFIED = "minified"  # a *.min.js/css name, or JavaScript/CSS with mean line length > 110

ALL = (
    HTTP_STATUS,
    NOT_HTML,
    DECODE_ERROR,
    EMPTY_EXTRACTION,
    TOO_LARGE,
    LICENSE,
    VENDORED,
    BINARY,
    MINIFIED,
)

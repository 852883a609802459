"""National Document Axis mock (*Trục liên thông văn bản quốc gia*).

Agencies sign in with client credentials, send signed edXML packages to registered,
open agencies, pull their inbox with a cursor and acknowledge (at-least-once delivery,
exactly-once effect per message id), and send status receipts back to the sender.
See ``mocks/axis/README.md`` for the rules and the delivery mechanism.
"""

from mocks.axis.app import create_app

__all__ = ["create_app"]

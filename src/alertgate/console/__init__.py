"""The service desk's web console (SPEC §12), served by the gateway under ``/console``:
server-rendered pages over the same services the API uses, a session cookie exchanged for a
token, CSRF tokens on every form, a strict Content-Security-Policy, Chinese and English."""

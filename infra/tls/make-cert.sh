#!/usr/bin/env sh
# A self-signed certificate for trying the compose file locally; production uses the municipality's own.
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" -keyout key.pem -out cert.pem

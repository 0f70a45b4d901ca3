"""Signing in with a municipality's own identity provider (OpenID Connect; SAML behind the same mapping).

The provider says who signed in (`identity.FederatedIdentity`); Lindra decides what she may do
(`mapping`), then issues its own device-bound tokens as for a password login.
"""

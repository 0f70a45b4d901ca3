"""Sign-in through a municipality's identity provider: who the provider says signed in, and what Lindra lets her do."""

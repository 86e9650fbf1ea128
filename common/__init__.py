"""What the webapp and the identity providers share; it imports neither app."""

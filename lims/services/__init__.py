"""Services: every write of the application goes through these functions."""

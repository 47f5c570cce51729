"""The main views of the application, one per tab."""

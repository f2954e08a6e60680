"""Public, unauthenticated endpoints: feeds, the OPML list and the HTML pages."""

"""Legal tests: each derives its expectations from the privacy statement
(``../shared/seed/privacyverklaring.txt``) or a GDPR article and names the article."""

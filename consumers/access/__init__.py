"""Who looked at a person's data: the access log, kept apart from the values.

Opening a subject's values (the subject view, an export: on a page, through the API or
on the command line) needs a case reference and a purpose from a short list, and leaves
one entry in an append-only log: who (name and role), when, which subject, what was
shown (the kind of view and the category names, never a value), the case and the
purpose. The subject's export lists the dates and purposes (CJEU C-579/21).
"""

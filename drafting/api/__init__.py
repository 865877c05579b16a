"""The drafts API (/api/drafts...): drafts and their revisions and live events (drafts), comments, templates.
Thin views: each validates its input, calls one service or selector, and answers with an output serializer.
Who may see and do what: drafting.selectors."""

"""The responder's questions over the store: search, tree, timeline, report. Each returns data
(events, :class:`~exectrail.query.tree.ProcessTree`, :class:`~exectrail.query.report.Report` …);
:mod:`exectrail.output.results` renders them."""

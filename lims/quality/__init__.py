"""The quality system: permissions, standards, reference materials, due lists,
reverse traceability, inter-comparisons, incidents, backup/restore and audit review.

Every service function takes the acting :class:`lims.models.User` and checks its
permission first (:func:`lims.quality.permissions.require`), before anything is
read or written.
"""

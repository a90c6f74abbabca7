"""A perloc plug-in: one method for the ``tdoa`` task, registered when ``method`` is imported."""

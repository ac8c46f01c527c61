"""sidkit-diger: DIGER, Semantic IDs trained jointly with the recommender.

Empty on purpose: ``sidkit_diger.plugin`` (the entry point) imports only the attrs configs,
and the components are imported when a pipeline builds them.
"""

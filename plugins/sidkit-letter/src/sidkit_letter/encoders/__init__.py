"""sidkit-letter encoders: ``sasrec`` (:mod:`.sasrec`) and ``content+collab`` (:mod:`.combined`);
this package imports nothing heavy itself."""

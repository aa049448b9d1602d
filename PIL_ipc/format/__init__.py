"""The file and its coders: the container (chunks, the byte layout once), the T.82 coder of the
bi-level planes on its QM arithmetic coder, the stored values, the source points, the colour
transform and the alpha channel.  Nothing here solves or searches: it is what spec/FORMAT.md
describes, in both directions."""

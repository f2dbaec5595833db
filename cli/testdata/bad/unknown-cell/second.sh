echo {{ cells.nope.stdout }}

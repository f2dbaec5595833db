echo before
echo {{ cells.third.stdout }}

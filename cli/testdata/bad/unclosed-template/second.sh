echo one
echo {{ cells.mark.exit_code

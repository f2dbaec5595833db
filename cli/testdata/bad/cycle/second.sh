echo {{ cells.third.exit_code }}

echo after

head -c 4096 /dev/urandom
echo
echo binary done

# A grandchild in the background, then a long wait: a cancel must stop both.
sleep 300 &
echo $! > "$PIDFILE.tmp"
mv "$PIDFILE.tmp" "$PIDFILE"
echo "waiting"
sleep 300

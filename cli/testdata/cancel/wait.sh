# A grandchild in the background, then a long wait: a cancel must stop both.
# The line is printed before the pid file appears, so a test that signals
# as soon as it sees the file also sees the line.
sleep 300 &
echo "waiting"
echo $! > "$PIDFILE.tmp"
mv "$PIDFILE.tmp" "$PIDFILE"
sleep 300

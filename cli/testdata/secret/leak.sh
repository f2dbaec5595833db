token={{ secrets.TOKEN }}
echo "plain: $token"
echo "base64: $(printf '%s' "$token" | base64 -w0)"
echo "base64url: $(printf '%s' "$token" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
echo "query: $(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$token")"
echo "percent: $(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$token")"
echo "on stderr: $token" >&2
echo "token=$token" >> "$OPSBOOK_OUTPUT"

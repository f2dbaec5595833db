echo "Hi {{ inputs.name }}"
cat <<EOF
Dear {{ inputs.name }},
EOF

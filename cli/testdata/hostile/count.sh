show() { local -i count={{ inputs.n }}; echo "count $count"; }
show
echo "next $(( {{ inputs.n }} + 1 ))"

pwd
echo kept > left.txt

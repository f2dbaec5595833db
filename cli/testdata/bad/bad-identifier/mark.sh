#!/usr/bin/env bash
# Would prove the flow ran: the test checks this file never appears.
touch @MARKER@/ran

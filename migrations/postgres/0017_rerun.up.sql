-- A re-run of a failed run (issue 12) names the run it re-runs, so that
-- run's page can link to its re-runs. NULL: not a re-run. What it took
-- from that run is in its request.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
CREATE INDEX runs_rerun_of ON runs (rerun_of);

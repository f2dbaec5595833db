select
  sum(amount < 0 and kind <> 'refund') as negative_purchases,
  sum(amount > {{ inputs.max_amount }}) as too_large,
  (select count(*) - count(distinct id) from dq_events where day = {{ inputs.day }}) as duplicate_ids
from dq_events
where day = {{ inputs.day }};

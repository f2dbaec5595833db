select
  sum(user_id is null) as missing_user,
  sum(kind is null) as missing_kind
from dq_events
where day = {{ inputs.day }};

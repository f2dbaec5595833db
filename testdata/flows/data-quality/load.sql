-- Several statements in one cell: the last one that returns rows gives
-- the cell's rows, and affected counts the rows of all of them.
drop table if exists dq_events;

create table dq_events (
  id      text not null,
  day     text not null,
  user_id text,
  kind    text not null,
  amount  real not null
);

insert into dq_events (id, day, user_id, kind, amount) values
  ('e-1', {{ inputs.day }}, 'u-1', 'purchase', 19.99),
  ('e-2', {{ inputs.day }}, 'u-2', 'purchase', 5.00),
  ('e-3', {{ inputs.day }}, null, 'refund', -5.00),
  ('e-4', {{ inputs.day }}, 'u-3', 'purchase', 250.00),
  ('e-4', {{ inputs.day }}, 'u-3', 'purchase', 250.00),
  ('e-5', {{ inputs.day }}, 'u-4', 'purchase', 99999.00);

select count(*) as events from dq_events where day = {{ inputs.day }};

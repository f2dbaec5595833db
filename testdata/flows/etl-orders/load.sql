-- One row per order, with its day, so that a day can be loaded again.
create table if not exists etl_orders (
  id       text primary key,
  day      text not null,
  customer text not null,
  amount   real not null,
  status   text not null
);

delete from etl_orders where day = {{ inputs.day }};

insert into etl_orders (id, day, customer, amount, status)
select
  value ->> 'id',
  {{ inputs.day }},
  value ->> 'customer',
  value ->> 'amount',
  value ->> 'status'
from json_each({{ toJSON(cells.fetch.body) }});

select count(*) as loaded from etl_orders where day = {{ inputs.day }};

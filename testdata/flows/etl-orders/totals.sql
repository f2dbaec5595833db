select
  customer,
  count(*) as orders,
  round(sum(amount), 2) as revenue
from etl_orders
where day = {{ inputs.day }} and status = 'paid'
group by customer
order by revenue desc, customer;

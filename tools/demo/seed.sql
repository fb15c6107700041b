insert into users (name, email, created_at) values
  ('Alice', 'alice@example.com', '2026-01-01T10:00:00Z'),
  ('Bob',   'bob@example.com',   '2026-01-02T10:00:00Z'),
  ('Carol', 'carol@example.com', '2026-01-03T10:00:00Z');

insert into delivery_agents (name, phone, active) values
  ('Dan', '+1-555-0101', true),
  ('Eve', null,          false);

insert into orders (user_id, delivery_agent_id, status, total, notes, created_at) values
  (1, 1,    'delivered',  23.50, '{"door": "back"}', '2026-02-01T12:00:00Z'),
  (1, null, 'placed',     12.00, null,               '2026-02-02T12:00:00Z'),
  (2, 1,    'delivering', 40.25, '{"ring": false}',  '2026-02-03T12:00:00Z'),
  (3, 2,    'cancelled',   8.00, null,               '2026-02-04T12:00:00Z');

insert into order_items (order_id, name, quantity, price) values
  (1, 'Margherita', 1, 11.50),
  (1, 'Tiramisu',   2,  6.00),
  (2, 'Ramen',      1, 12.00),
  (3, 'Burger',     2, 15.00),
  (3, 'Fries',      2,  5.125),
  (4, 'Salad',      1,  8.00);

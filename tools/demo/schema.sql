-- liveql demo: a food-ordering app. Users place orders of items; delivery agents deliver them.
create type order_status as enum ('placed', 'preparing', 'delivering', 'delivered', 'cancelled');

create table users (
  id          serial primary key,
  name        text not null,
  email       text not null unique,
  created_at  timestamptz not null default now()
);

create table delivery_agents (
  id         serial primary key,
  name       text not null,
  phone      text,
  active     boolean not null default true
);

create table orders (
  id                 serial primary key,
  user_id            integer not null references users(id),
  delivery_agent_id  integer references delivery_agents(id),
  status             order_status not null default 'placed',
  total              numeric(10,2) not null default 0,
  notes              jsonb,
  created_at         timestamptz not null default now()
);
create index on orders(user_id);
create index on orders(delivery_agent_id);

create table order_items (
  id         serial primary key,
  order_id   integer not null references orders(id) on delete cascade,
  name       text not null,
  quantity   integer not null check (quantity > 0),
  price      numeric(10,2) not null
);
create index on order_items(order_id);

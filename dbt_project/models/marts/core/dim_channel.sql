-- The contact channels. Fixed by the case system's contract (simulator/schema.py CHANNELS), so
-- they are listed here rather than derived from data: a channel without contacts still exists.
with

channels as (

    select * from (
        values
            ('hotline', 'Hotline', 'assisted', false),
            ('web', 'Web portal', 'self_service', true),
            ('app', 'Mobile app', 'self_service', true),
            ('service_hall', 'Service hall', 'assisted', false),
            ('email', 'Email', 'written', true),
            ('social_media', 'Social media', 'written', true)
    ) as channels (channel, channel_name, channel_group, is_digital)

),

known as (

    select
        {{ surrogate_key(['channel']) }} as channel_key,
        channel,
        channel_name,
        channel_group,
        is_digital

    from channels

),

unknown as (

    select
        {{ unknown_key() }} as channel_key,
        'unknown' as channel,
        'Unknown channel' as channel_name,
        'unknown' as channel_group,
        false as is_digital

)

select * from known
union all
select * from unknown

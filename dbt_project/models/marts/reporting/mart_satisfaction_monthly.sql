-- Month x department x channel: how satisfied citizens said they were, by the month the survey
-- was answered, the department owning the request's service and the channel of the request.
with

surveys as (

    select * from {{ ref('fct_satisfaction') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

departments as (

    select * from {{ ref('dim_department') }}

),

channels as (

    select * from {{ ref('dim_channel') }}

),

final as (

    select
        dates.month_start_date as month_start,
        surveys.department_key,
        departments.department_id,
        departments.department_name,
        surveys.channel_key,
        channels.channel,
        channels.channel_name,
        count(*) as surveys,
        count(distinct surveys.resolved_citizen_id) as respondents,
        {{ mean('surveys.score') }} as avg_score,
        {{ mean('case when surveys.is_satisfied then 1.0 else 0.0 end') }} as satisfied_share,
        {{ mean('case when surveys.is_dissatisfied then 1.0 else 0.0 end') }} as dissatisfied_share

    from surveys
    inner join dates on surveys.submitted_date_key = dates.date_key
    inner join departments on surveys.department_key = departments.department_key
    inner join channels on surveys.channel_key = channels.channel_key
    group by
        dates.month_start_date,
        surveys.department_key,
        departments.department_id,
        departments.department_name,
        surveys.channel_key,
        channels.channel,
        channels.channel_name

)

select * from final

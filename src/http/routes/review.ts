import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { BadCursor, compareMaxMs, type ReviewQueries } from '../../projections/review-queries.js'
import { readers } from '../auth.js'
import { problem, sendProblem } from '../problems.js'
import {
  CompareQuery,
  Comparison,
  DestinationActivity,
  DeviceActivity,
  DeviceParams,
  NumbersQuery,
  OperatorActivity,
  OperatorParams,
  problems,
  RejectionDrillDown,
  RejectionsQuery,
  ReviewSummary,
  ShipmentParams,
  ShipmentReview,
  ShipmentReviewQuery,
  StateShipments,
  StateShipmentsParams,
  StateShipmentsQuery,
  StuckQuery,
  StuckShipments,
  TruckBoard,
  TruckParams,
  TruckReview,
  WhoDetail,
  WhoDetailQuery,
  WindowOnlyQuery,
} from '../schemas.js'
import { reviewWindow, windowOf, type RequestWindow } from './window.js'

/**
 * The process map's drill-downs (docs/process-map.md, docs/api.md *Review*): every number on the page
 * opens what is behind it — who (devices, operators), where (destinations, trucks), how long (lead
 * time, dwell) and compared with what (the day and the week before). Reviewers and admins only; reads
 * only, each bounded by its window or its page (projections/review-queries.ts).
 */
export interface ReviewRoutesOptions {
  readonly review: ReviewQueries
  readonly stuckAfterMs: number
  readonly clock: () => number
}

const tags = ['review']

export const reviewRoutes: FastifyPluginAsyncTypebox<ReviewRoutesOptions> = async (app, { review, stuckAfterMs, clock }) => {
  /** The window of a request, or its 400 sent. */
  const windowFor = (query: { from?: string; to?: string }, reply: FastifyReply): RequestWindow | undefined => {
    const window = windowOf(query, clock(), reviewWindow)
    if ('problem' in window) {
      void sendProblem(reply, window.problem)
      return undefined
    }
    return window
  }
  /** A cursor this service did not make is a 400, like any bad parameter. */
  const paged = async <T>(reply: FastifyReply, read: () => Promise<T>): Promise<T | FastifyReply> => {
    try {
      return await read()
    } catch (error) {
      if (error instanceof BadCursor) return sendProblem(reply, problem('invalid-request', error.message))
      throw error
    }
  }

  app.get(
    '/review/summary',
    {
      config: { allow: readers },
      schema: {
        summary: "The window's numbers beside the chart: shipments now and entered per state, scanners' commands accepted, refused and late, departures, lead time, stuck",
        tags,
        querystring: NumbersQuery,
        response: { 200: ReviewSummary, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      return review.summary(window, request.query.stuckAfterMs ?? stuckAfterMs, clock())
    },
  )

  app.get(
    '/review/rejections',
    {
      config: { allow: readers },
      schema: {
        summary: 'Behind one row of the refusals (state · command · reason): how many, the shipments or trucks refused (a page), the devices and operators that sent them',
        tags,
        querystring: RejectionsQuery,
        response: { 200: RejectionDrillDown, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const { state, command, reason, limit, cursor } = request.query
      return paged(reply, () => review.rejections({ state, command, reason }, window, { limit, ...(cursor === undefined ? {} : { cursor }) }))
    },
  )

  app.get(
    '/review/states/:state/shipments',
    {
      config: { allow: readers },
      schema: {
        summary: 'The shipments in a state now, longest there first (or latest first), with destination and truck; the total; a page at a time',
        tags,
        params: StateShipmentsParams,
        querystring: StateShipmentsQuery,
        response: { 200: StateShipments, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { order, destination, noDestination, limit, cursor } = request.query
      if (destination !== undefined && noDestination) return sendProblem(reply, problem('invalid-request', '`destination` and `noDestination` exclude each other'))
      const only = noDestination ? { destination: null } : destination === undefined ? {} : { destination }
      return paged(reply, () => review.stateShipments(request.params.state, { ...only, order, limit, ...(cursor === undefined ? {} : { cursor }) }, clock()))
    },
  )

  app.get(
    '/review/stuck',
    {
      config: { allow: readers },
      schema: {
        summary: 'Shipments stuck (in a non-final state longer than the threshold), longest first: the total and a page',
        tags,
        querystring: StuckQuery,
        response: { 200: StuckShipments, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query
      return paged(reply, () => review.stuck(request.query.stuckAfterMs ?? stuckAfterMs, clock(), { limit, ...(cursor === undefined ? {} : { cursor }) }))
    },
  )

  app.get(
    '/review/devices',
    {
      config: { allow: readers },
      schema: {
        summary: "Per device: scanners' commands in the window, accepted and refused, refusals by reason, late scans (offline batches)",
        tags,
        querystring: WindowOnlyQuery,
        response: { 200: DeviceActivity, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const rows = await review.who('device', window)
      return { window: echo(window), items: rows.map(({ id, ...row }) => ({ deviceId: id ?? '', ...row })) }
    },
  )

  app.get(
    '/review/devices/:deviceId',
    {
      config: { allow: readers },
      schema: {
        summary: 'One device in the window: its commands per type, its refusals by reason, its refused commands (newest first, a page)',
        tags,
        params: DeviceParams,
        querystring: WhoDetailQuery,
        response: { 200: WhoDetail, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const { limit, cursor } = request.query
      const { deviceId } = request.params
      return paged(reply, async () => ({ deviceId, ...(await review.whoDetail('device', deviceId, window, { limit, ...(cursor === undefined ? {} : { cursor }) })) }))
    },
  )

  app.get(
    '/review/operators',
    {
      config: { allow: readers },
      schema: {
        summary: "Per operator: scanners' commands in the window, accepted and refused, refusals by reason, late scans (`operatorId` null: scans that named nobody)",
        tags,
        querystring: WindowOnlyQuery,
        response: { 200: OperatorActivity, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const rows = await review.who('operator', window)
      return { window: echo(window), items: rows.map(({ id, ...row }) => ({ operatorId: id, ...row })) }
    },
  )

  app.get(
    '/review/operators/:operatorId',
    {
      config: { allow: readers },
      schema: {
        summary: 'One operator in the window: commands per type, refusals by reason, refused commands (newest first, a page)',
        tags,
        params: OperatorParams,
        querystring: WhoDetailQuery,
        response: { 200: WhoDetail, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const { limit, cursor } = request.query
      const { operatorId } = request.params
      return paged(reply, async () => ({ operatorId, ...(await review.whoDetail('operator', operatorId, window, { limit, ...(cursor === undefined ? {} : { cursor }) })) }))
    },
  )

  app.get(
    '/review/destinations',
    {
      config: { allow: readers },
      schema: {
        summary: 'Per destination: shipments now per state, shipments entering each state in the window, lead time, refusals',
        tags,
        querystring: WindowOnlyQuery,
        response: { 200: DestinationActivity, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      return review.destinations(window)
    },
  )

  app.get(
    '/review/trucks',
    {
      config: { allow: readers },
      schema: {
        summary: 'The truck board: every opened truck, loading or departed, its load and capacity, its departures in the window',
        tags,
        querystring: WindowOnlyQuery,
        response: { 200: TruckBoard, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      return review.truckBoard(window)
    },
  )

  app.get(
    '/review/trucks/:truckId',
    {
      config: { allow: readers },
      schema: {
        summary: 'One truck: as it is now, its departures in the window, and the shipments on it with their state',
        tags,
        params: TruckParams,
        querystring: WindowOnlyQuery,
        response: { 200: TruckReview, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      const found = await review.truck(request.params.truckId, window)
      if (!found) return sendProblem(reply, problem('not-found', `truck ${request.params.truckId} was not opened`))
      return found
    },
  )

  app.get(
    '/review/compare',
    {
      config: { allow: readers },
      schema: {
        summary: 'The window hour by hour beside the same window a day and a week earlier: throughput per state, dwell; at most 7 days',
        tags,
        querystring: CompareQuery,
        response: { 200: Comparison, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const window = windowFor(request.query, reply)
      if (!window) return reply
      if (window.to - window.from >= compareMaxMs) return sendProblem(reply, problem('invalid-request', 'a comparison covers at most 7 days: choose a shorter window'))
      return review.compare(window)
    },
  )

  app.get(
    '/review/shipments/:shipmentId',
    {
      config: { allow: readers },
      schema: {
        summary: "A shipment for the map at a step (`?version=`, default its latest): its state then, its path on the chart, since when, destination, truck, lead time, the departure that shipped it",
        tags,
        params: ShipmentParams,
        querystring: ShipmentReviewQuery,
        response: { 200: ShipmentReview, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const found = await review.shipment(request.params.shipmentId, request.query.version)
      if (!found) return sendProblem(reply, problem('not-found', `shipment ${request.params.shipmentId} was never registered`))
      return found
    },
  )
}

const echo = (window: RequestWindow) => ({ from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() })

/** Reading HTTPRouteRequestTimeout support from a GatewayClass's status.supportedFeatures. */
import { requestTimeoutsSupported } from '../../controller/reconciler/manager.js';

describe('requestTimeoutsSupported', () => {
  test('undefined when the GatewayClass publishes no supportedFeatures: timeouts stay on', () => {
    expect(requestTimeoutsSupported(undefined)).toBeUndefined();
    expect(requestTimeoutsSupported({})).toBeUndefined();
    expect(requestTimeoutsSupported({ status: {} })).toBeUndefined();
  });

  test('true when the feature is listed, as objects (Gateway API 1.2+) or names (1.1)', () => {
    expect(requestTimeoutsSupported({ status: { supportedFeatures: [{ name: 'HTTPRoute' }, { name: 'HTTPRouteRequestTimeout' }] } })).toBe(true);
    expect(requestTimeoutsSupported({ status: { supportedFeatures: ['Gateway', 'HTTPRouteRequestTimeout'] } })).toBe(true);
  });

  test('false when supportedFeatures is published without it', () => {
    expect(requestTimeoutsSupported({ status: { supportedFeatures: [{ name: 'Gateway' }, { name: 'HTTPRoute' }] } })).toBe(false);
    expect(requestTimeoutsSupported({ status: { supportedFeatures: [] } })).toBe(false);
  });
});

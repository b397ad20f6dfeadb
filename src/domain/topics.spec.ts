import { Topics } from './topics';

describe('Topics', () => {
  const topics = new Topics('webcommunicator/dev');

  it('builds broadcast and private topics', () => {
    expect(topics.broadcast('news')).toBe('webcommunicator/dev/news');
    expect(topics.private('news', 'us-east-1:abc')).toBe('webcommunicator/dev/news/client/us-east-1:abc');
  });

  it.each(['#', '+', 'a/b', '', 'a b', '$SYS', 'x'.repeat(65), 'news\u0000'])('refuses channel %j', (channel) => {
    expect(() => topics.broadcast(channel)).toThrow(TypeError);
    expect(() => topics.private(channel, 'alice')).toThrow(TypeError);
  });

  it.each(['#', '+', 'bob/#', 'a/b', '', 'x'.repeat(129)])('refuses client id %j', (clientId) => {
    expect(() => topics.private('news', clientId)).toThrow(TypeError);
  });

  it('parses only concrete topics under the prefix', () => {
    expect(topics.parse('webcommunicator/dev/news')).toEqual({ kind: 'broadcast', channel: 'news' });
    expect(topics.parse('webcommunicator/dev/news/client/bob')).toEqual({ kind: 'private', channel: 'news', clientId: 'bob' });
    for (const bad of ['webcommunicator/dev/#', 'webcommunicator/dev/+', 'webcommunicator/dev/news/client/+', 'webcommunicator/dev/news/other/bob', 'other/dev/news', 'webcommunicator/devx/news', 'webcommunicator/dev/news/client/bob/extra', '$SYS/broker']) {
      expect(topics.parse(bad)).toBeUndefined();
    }
  });
});
